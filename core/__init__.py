"""The ground the apps stand on: helpers every app may use. No models, and
no import of any app (a test over the modules' imports holds it)."""
