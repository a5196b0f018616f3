-- Where a token came from: "config" for tokens declared in the server's
-- config file (removed again when the file no longer lists them), empty for
-- tokens created through the CLI or the API.
ALTER TABLE tokens ADD COLUMN source text NOT NULL DEFAULT '';
