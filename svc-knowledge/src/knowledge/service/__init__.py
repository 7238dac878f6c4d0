"""Domain rules of svc-knowledge (no HTTP here): entries, the search index, conversations, unanswered
questions, policy deadlines, inspection and the reports."""
