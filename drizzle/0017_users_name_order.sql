-- Placing many accounts in the name order walks it a page at a time (src/accounts/name-order.ts
-- placeAccounts), so that an import step holds one page, not every account: bytewise, id for ties.
CREATE INDEX "users_name_order_idx" ON "users" USING btree ("name_order" collate "C","id");