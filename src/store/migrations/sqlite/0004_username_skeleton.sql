-- The UTS #39 confusable skeleton of each username key: two names that look alike (`alice`,
-- Cyrillic `аlice`, `a1ice`) are one name. SQL cannot compute a skeleton, so users created
-- before this column get theirs from Gatehouse at start-up (NULL until then, and for a user
-- whose skeleton an earlier user already holds: unique indexes let NULLs repeat).
ALTER TABLE users ADD COLUMN username_skeleton TEXT;
CREATE UNIQUE INDEX users_username_skeleton ON users (username_skeleton);
