using Google.Apis.Auth;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace FinancialPipeline.Hosting;

/// <summary>
/// OIDC verification of pushes (Pub/Sub push with an <c>oidcToken</c>, or Eventarc): when <see cref="Audience"/> is
/// set every POST needs <c>Authorization: Bearer &lt;Google-signed ID token&gt;</c> for that audience, issued by
/// accounts.google.com, and (when <see cref="ServiceAccountEmail"/> is set) for that verified service account.
/// Unset (local runs: the emulator sends no token) → no check.
/// </summary>
public sealed record PushAuthenticationOptions
{
    public const string AudienceVariable = "FP_OIDC_AUDIENCE";
    public const string ServiceAccountVariable = "FP_OIDC_SERVICE_ACCOUNT";

    public static readonly IReadOnlyList<string> GoogleIssuers = ["https://accounts.google.com", "accounts.google.com"];

    /// <summary>How far a token's issued-at may lie ahead of this instance's clock (Google.Apis.Auth's own default for ID tokens).</summary>
    public static readonly TimeSpan IssuedAtClockTolerance = TimeSpan.FromSeconds(30);

    /// <summary>The subscription's <c>oidcToken.audience</c> (or its push endpoint URL), or the Cloud Run service URL for Eventarc.</summary>
    public string? Audience { get; init; }

    public string? ServiceAccountEmail { get; init; }

    /// <summary>Where the signing keys (JWKS) come from; null → Google's (https://www.googleapis.com/oauth2/v3/certs). Tests point it at a local server.</summary>
    public string? CertificatesUrl { get; init; }

    public bool Enabled => Audience is not null;

    public static PushAuthenticationOptions FromConfiguration(IConfiguration config)
    {
        var audience = config[AudienceVariable];
        var account = config[ServiceAccountVariable];
        if (!string.IsNullOrWhiteSpace(account) && string.IsNullOrWhiteSpace(audience))
        {
            throw new InvalidOperationException($"{ServiceAccountVariable} is set but {AudienceVariable} is not: set the audience to enable OIDC verification");
        }

        if (!string.IsNullOrWhiteSpace(account) && !account.Contains('@', StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"{ServiceAccountVariable}='{account}' must be a service account email");
        }

        return new PushAuthenticationOptions
        {
            Audience = string.IsNullOrWhiteSpace(audience) ? null : audience.Trim(),
            ServiceAccountEmail = string.IsNullOrWhiteSpace(account) ? null : account.Trim(),
        };
    }
}

/// <summary>The verdict on one request: allowed, or the status to answer and why (never the token itself).</summary>
public sealed record PushAuthenticationResult(bool Allowed, int StatusCode, string Reason)
{
    public static readonly PushAuthenticationResult Allow = new(true, StatusCodes.Status200OK, "ok");
}

/// <summary>Verifies push tokens with Google.Apis.Auth (signature against the issuer's keys, expiry, issuer, audience).</summary>
public sealed class PushAuthenticator(PushAuthenticationOptions options)
{
    private const int MaxTokenLength = 10_000;

    // Built only when verification is on: a local or unauthenticated host never loads Google.Apis.Auth.
    private readonly SignedTokenVerificationOptions? _verification = options.Enabled ? CreateVerification(options) : null;

    public bool Enabled => options.Enabled;

    public async Task<PushAuthenticationResult> AuthenticateAsync(string? authorizationHeader, CancellationToken cancellationToken)
    {
        if (_verification is null)
        {
            return PushAuthenticationResult.Allow;
        }

        if (string.IsNullOrWhiteSpace(authorizationHeader))
        {
            return Unauthorized("no Authorization header");
        }

        const string scheme = "Bearer ";
        if (!authorizationHeader.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) || authorizationHeader.Length == scheme.Length)
        {
            return Unauthorized("Authorization is not a Bearer token");
        }

        var token = authorizationHeader[scheme.Length..].Trim();
        if (token.Length > MaxTokenLength)
        {
            return Unauthorized($"token longer than {MaxTokenLength} characters");
        }

        GoogleJsonWebSignature.Payload payload;
        try
        {
            payload = await JsonWebSignature.VerifySignedTokenAsync<GoogleJsonWebSignature.Payload>(token, _verification, cancellationToken);
        }
        catch (InvalidJwtException ex)
        {
            return Unauthorized("token rejected: " + ex.Message);
        }
        catch (HttpRequestException ex)
        {
            // Not the caller's fault: answer 503 so Pub/Sub redelivers once the keys can be fetched.
            return new PushAuthenticationResult(false, StatusCodes.Status503ServiceUnavailable, "could not fetch the token signing keys: " + ex.Message);
        }

        if (options.ServiceAccountEmail is { } expected
            && (!string.Equals(payload.Email, expected, StringComparison.OrdinalIgnoreCase) || !payload.EmailVerified))
        {
            return new PushAuthenticationResult(false, StatusCodes.Status403Forbidden, $"token is for '{payload.Email}' (verified: {payload.EmailVerified}), not the push service account");
        }

        return PushAuthenticationResult.Allow;
    }

    private static PushAuthenticationResult Unauthorized(string reason) => new(false, StatusCodes.Status401Unauthorized, reason);

    /// <summary>Expiry is checked against the system clock (the library's clock is not settable from outside).</summary>
    private static SignedTokenVerificationOptions CreateVerification(PushAuthenticationOptions options)
    {
        // Google mints the token by its clock, and an instance's clock may lag it by a moment: as
        // GoogleJsonWebSignature.ValidateAsync does (gcp-facts §6), a token issued up to 30 s "in the future" passes,
        // where this options class defaults to none and would answer a fresh token 401. Expiry keeps no tolerance.
        var verification = new SignedTokenVerificationOptions
        {
            CertificatesUrl = options.CertificatesUrl,
            IssuedAtClockTolerance = PushAuthenticationOptions.IssuedAtClockTolerance,
        };
        if (options.Audience is { } audience)
        {
            verification.TrustedAudiences.Add(audience);
        }

        foreach (var issuer in PushAuthenticationOptions.GoogleIssuers)
        {
            verification.TrustedIssuers.Add(issuer);
        }

        return verification;
    }
}
