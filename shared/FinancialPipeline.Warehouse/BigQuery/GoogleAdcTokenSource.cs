using Google.Apis.Auth.OAuth2;

namespace FinancialPipeline.Warehouse.BigQuery;

/// <summary>
/// Application Default Credentials, looked up on first use and then shared by every client in the process
/// (the credential caches and refreshes its own tokens). A failed lookup is tried again on the next call.
/// </summary>
internal sealed class GoogleAdcTokenSource
{
    private Task<ITokenAccess>? _credential;

    public static GoogleAdcTokenSource Shared { get; } = new();

    public async Task<string?> GetAccessTokenAsync(CancellationToken cancellationToken)
    {
        var credential = Volatile.Read(ref _credential);
        if (credential is null || credential.IsFaulted || credential.IsCanceled)
        {
            _ = Interlocked.CompareExchange(ref _credential, CreateAsync(), credential);
            credential = Volatile.Read(ref _credential)!;
        }

        var access = await credential.WaitAsync(cancellationToken);
        return await access.GetAccessTokenForRequestAsync(cancellationToken: cancellationToken);
    }

    private static async Task<ITokenAccess> CreateAsync()
    {
        var credential = await GoogleCredential.GetApplicationDefaultAsync(CancellationToken.None);
        if (credential.IsCreateScopedRequired)
        {
            credential = credential.CreateScoped(BigQueryOptions.DefaultScope);
        }

        return credential;
    }
}
