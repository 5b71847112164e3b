-- A user's last deactivation: bearer tokens, challenges and user action tokens issued
-- at or before it never work again, even once the user is activated.
ALTER TABLE users ADD COLUMN cut_off_at TEXT;
