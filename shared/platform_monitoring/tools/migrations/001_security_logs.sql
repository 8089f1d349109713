-- security_logs: every security event the bundle receives (docs/security.md).
-- Written by SecurityEventsProcessorFunction with INSERT IGNORE on event_id, so a redelivered
-- queue message never adds a row twice.
CREATE TABLE IF NOT EXISTS security_logs (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    event_id VARCHAR(64) NOT NULL,
    type VARCHAR(32) NOT NULL,
    ip VARCHAR(45) NOT NULL,
    user_id VARCHAR(64) NULL,
    company_id VARCHAR(64) NULL,
    user_agent VARCHAR(512) NULL,
    details LONGTEXT NULL,
    source VARCHAR(16) NOT NULL DEFAULT 'api',
    occurred_at DATETIME(3) NOT NULL,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (id),
    UNIQUE KEY security_logs_event_id_unique (event_id),
    -- "what did this IP do" (the runbook's first query) and the blocking rules' windows
    KEY security_logs_ip_occurred_at_index (ip, occurred_at),
    -- "failed logins in the last hour", the dashboard's trends
    KEY security_logs_type_occurred_at_index (type, occurred_at),
    -- a user's or a company's history
    KEY security_logs_user_id_occurred_at_index (user_id, occurred_at),
    KEY security_logs_company_id_occurred_at_index (company_id, occurred_at),
    -- retention: DELETE ... WHERE occurred_at < ?
    KEY security_logs_occurred_at_index (occurred_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
