-- idx_messages_provider (provider, provider_message_id) is read by no statement: receipts find
-- their message in the cache (the receipt matcher), and finding a message by a provider's own id
-- is message_attempts' idx_message_attempts_provider, which holds every attempt, not only the
-- latest pair `messages` keeps. Every message paid for it twice: on its insert, and when its
-- submission set the pair.
-- No IF EXISTS: MySQL has none for indexes; a crash between this statement and the recording of
-- the version would need the index created again by hand before the next start.
ALTER TABLE messages DROP INDEX idx_messages_provider;
