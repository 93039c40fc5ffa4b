-- What a create with a request_id asked for: SHA-256 of the request without its request_id, in
-- protobuf's deterministic encoding. A retry must ask for the same thing; the same request_id with
-- another body is INVALID_ARGUMENT (REQUEST_ID_REUSED), not silently the first result.
ALTER TABLE sessions ADD COLUMN request_fingerprint bytea;
