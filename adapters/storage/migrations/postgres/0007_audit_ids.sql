-- A record is read by its id within its org (`GET /auth/action/logs/{id}`).
CREATE INDEX audit_by_id ON audit (org_id, id);
