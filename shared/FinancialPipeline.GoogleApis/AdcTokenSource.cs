using Google.Apis.Auth.OAuth2;

namespace FinancialPipeline.GoogleApis;

/// <summary>
/// Bearer tokens from Application Default Credentials for one OAuth scope, shared by the REST adapters (Pub/Sub,
/// GCS, BigQuery). The credential is looked up on first use, once per source; token refresh and caching are the
/// library's. A failed lookup is not kept here, so the next call asks the library again; but Google.Apis.Auth
/// (1.78) caches its own ADC lookup for the process, a failure included, so a process whose lookup failed keeps
/// answering 5xx and Pub/Sub redelivers (to other instances) until the message is dead-lettered and alerted.
/// </summary>
public sealed class AdcTokenSource
{
    private readonly string _scope;
    private Task<ITokenAccess>? _credential;

    public AdcTokenSource(string scope)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(scope);
        _scope = scope;
    }

    public async Task<string?> GetAccessTokenAsync(CancellationToken cancellationToken)
    {
        var credential = Volatile.Read(ref _credential);
        if (credential is null || credential.IsFaulted || credential.IsCanceled)
        {
            // One lookup at a time; a caller that loses the race uses the winner's.
            _ = Interlocked.CompareExchange(ref _credential, LookUpAsync(_scope), credential);
            credential = Volatile.Read(ref _credential)!;
        }

        var access = await credential.WaitAsync(cancellationToken);
        return await access.GetAccessTokenForRequestAsync(cancellationToken: cancellationToken);
    }

    private static async Task<ITokenAccess> LookUpAsync(string scope)
    {
        GoogleCredential credential;
        try
        {
            // Not the caller's token: the lookup is shared, and one caller giving up must not fail the others.
            credential = await GoogleCredential.GetApplicationDefaultAsync(CancellationToken.None);
        }
        catch (InvalidOperationException ex)
        {
            throw new GoogleCredentialsUnavailableException(ex);
        }

        return credential.IsCreateScopedRequired ? credential.CreateScoped(scope) : credential;
    }
}

/// <summary>No Application Default Credentials could be found: what to set, instead of the library's stack trace.</summary>
public sealed class GoogleCredentialsUnavailableException(Exception inner) : InvalidOperationException(
    "no Google credentials: Application Default Credentials were not found (set GOOGLE_APPLICATION_CREDENTIALS to a key file, "
    + "run `gcloud auth application-default login`, or run on Google Cloud; for the local emulators set PUBSUB_EMULATOR_HOST "
    + "or STORAGE_EMULATOR_HOST instead)",
    inner);
