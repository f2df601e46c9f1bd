-- The first run's send time of a campaign (core/store/kinds/campaigns.ts). send_at moves to the
-- next run after each one; a monthly recurrence keeps this one's day of the month, so a campaign
-- first sent on the 31st is sent on the 28th in February and on the 31st again in March.
ALTER TABLE campaigns ADD COLUMN first_send_at BIGINT NULL;
