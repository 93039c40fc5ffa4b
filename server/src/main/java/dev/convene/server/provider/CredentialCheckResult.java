package dev.convene.server.provider;

/**
 * What a provider said of the configured credentials (see CheckProviderCredentials in the contract).
 *
 * @param valid            Convene can drive the provider with them
 * @param accountStatus    the account's status as the provider reports it; empty when unknown
 * @param apiKeyValid      the API key was accepted
 * @param credentialsMatch the key belongs to the account and its secret matches
 * @param detail           why not, in a few words; never a secret
 */
public record CredentialCheckResult(boolean valid, String accountStatus, boolean apiKeyValid,
    boolean credentialsMatch, String detail) {}
