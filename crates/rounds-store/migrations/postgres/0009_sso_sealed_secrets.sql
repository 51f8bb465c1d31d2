-- Single sign-on keeps nothing a thief of the database could sign in with:
-- the PKCE verifier of a sign-in under way is sealed with the site key
-- (AES-256-GCM, context `sso-pending:<state_hash>`), and the ID token a
-- session came with is kept (sealed, context `sso-session:<token_hash>`)
-- only where the provider offers RP-initiated sign-out, to name the session
-- there (`id_token_hint`); it goes with the session.
-- Twin: ../sqlite/0009_sso_sealed_secrets.sql (same statements).

-- Sign-ins under way at the upgrade held the verifier in the clear: they
-- have to start again (they live ten minutes at most).
DELETE FROM sso_pending;
ALTER TABLE sso_pending RENAME COLUMN pkce_verifier TO pkce_verifier_sealed;

ALTER TABLE sso_sessions ADD COLUMN id_token_sealed TEXT;
