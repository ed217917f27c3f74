-- Local users' groups, and the groups each token was issued with: group names separated by
-- single spaces (names are validated and never contain one), empty for none. Named
-- `user_groups` because GROUPS is an SQL keyword.
ALTER TABLE users ADD COLUMN user_groups TEXT NOT NULL DEFAULT '';
ALTER TABLE access_tokens ADD COLUMN user_groups TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN user_groups TEXT NOT NULL DEFAULT '';
