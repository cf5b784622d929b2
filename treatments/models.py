# Treatment plans and session charts arrive with the treatment-plan issue.
