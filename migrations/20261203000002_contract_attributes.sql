-- Blob attributes on storage contracts (issue 14; API.md, "Gateway"): small name/value
-- pairs the gateway serves as response headers (`content-type`, ...). Checked by the
-- ledger when set (allow-listed names plus `x-*`, bounded count and size).
ALTER TABLE contracts ADD COLUMN attributes jsonb NOT NULL DEFAULT '{}'::jsonb;
-- Who paid, when a buyer stored for another owner (`owner` on purchase); NULL: the owner.
ALTER TABLE contracts ADD COLUMN payer text;
