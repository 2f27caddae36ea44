INSERT INTO leases (name, holder, token, expires_at)
VALUES (?1, ?2, 1, ?3)
ON CONFLICT (name) DO UPDATE
    SET holder = excluded.holder, token = leases.token + 1, expires_at = excluded.expires_at
    WHERE leases.expires_at <= ?4
RETURNING token
