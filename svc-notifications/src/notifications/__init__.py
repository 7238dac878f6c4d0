"""svc-notifications: 站内信与外部渠道通知 — what reaches the applicant (and the officer), in the inbox and outside."""
