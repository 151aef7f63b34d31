-- Sessions are stored by the SHA-256 of their cookie's token (src/accounts/sessions.ts), so a
-- copy of this table signs no one in. Until now a row's id was the token itself: hash it in
-- place, as the application does (lower-case hex of the token's UTF-8 bytes), and the readers
-- signed in before the upgrade stay signed in. No table references sessions.id. A hash cannot
-- collide with an old id mid-statement: old ids are 40 base32 characters, hashes 64 hex digits.
UPDATE "sessions" SET "id" = encode(sha256(convert_to("id", 'UTF8')), 'hex');
