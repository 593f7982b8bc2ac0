using Google.Apis.Auth.OAuth2;

namespace FinancialPipeline.Storage.Gcs;

/// <summary>
/// Bearer tokens from Application Default Credentials. The credential is created on first use, once
/// (a failed attempt is not cached, so a later call tries again); token refresh and caching are the library's.
/// </summary>
internal sealed class GoogleAccessTokenSource : IDisposable
{
    private readonly string _scope;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private ITokenAccess? _credential;

    public GoogleAccessTokenSource(string scope)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(scope);
        _scope = scope;
    }

    public async Task<string?> GetAccessTokenAsync(CancellationToken cancellationToken)
    {
        var credential = _credential ?? await CreateCredentialAsync(cancellationToken);
        return await credential.GetAccessTokenForRequestAsync(cancellationToken: cancellationToken);
    }

    public void Dispose() => _gate.Dispose();

    private async Task<ITokenAccess> CreateCredentialAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_credential is null)
            {
                var credential = await GoogleCredential.GetApplicationDefaultAsync(cancellationToken);
                if (credential.IsCreateScopedRequired)
                {
                    credential = credential.CreateScoped(_scope);
                }

                _credential = credential;
            }

            return _credential;
        }
        finally
        {
            _gate.Release();
        }
    }
}
