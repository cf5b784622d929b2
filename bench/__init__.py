"""Benchmarks, run by `make bench`. Each prints figures for people to read;
none passes or fails, and each works on a throwaway database of its own."""
