"""Where secrets are kept: one small interface (`base.SecretStore`) and its backends."""
