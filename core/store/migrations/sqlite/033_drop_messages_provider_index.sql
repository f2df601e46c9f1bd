-- Read by no statement (see the MySQL migration of the same number): finding a message by a
-- provider's own id is message_attempts' idx_message_attempts_provider.
DROP INDEX IF EXISTS idx_messages_provider;
