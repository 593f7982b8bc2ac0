using FinancialPipeline.Core.Storage;
using FinancialPipeline.Storage.Gcs;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace FinancialPipeline.Storage.Tests;

public sealed class ConfigurationTests : GcsTestBase
{
    [Fact]
    public async Task EmulatorHost_WithoutScheme_IsUsedOverHttp_WithoutCredentials()
    {
        var calls = 0;
        var store = CreateStore(o =>
        {
            o.EmulatorHost = $"127.0.0.1:{Server.BaseAddress.Port}";
            o.AccessTokenSource = _ => Task.FromResult<string?>($"token-{++calls}");
        });

        await store.UploadObjectAsync(Bucket, "e", "text/plain", new MemoryStream([1]));

        Assert.Null(Assert.Single(Server.Requests).Authorization);
        Assert.Equal(0, calls);
    }

    [Fact]
    public async Task Endpoint_WithoutEmulator_SendsABearerTokenOnEveryRequest()
    {
        var calls = 0;
        var store = CreateStore(o =>
        {
            o.EmulatorHost = null;
            o.Endpoint = Server.BaseAddress;
            o.AccessTokenSource = _ => Task.FromResult<string?>($"token-{Interlocked.Increment(ref calls)}");
        });

        await store.UploadObjectAsync(Bucket, "big", "application/octet-stream", new MemoryStream(RandomBytes(Threshold + 1, seed: 5)));
        await DownloadAsync(store, "big");

        var requests = Server.Requests;
        Assert.True(requests.Count >= 4);
        Assert.Equal(requests.Count, calls);
        Assert.Equal(Enumerable.Range(1, calls).Select(i => $"Bearer token-{i}"), requests.Select(r => r.Authorization));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(100_000)]
    public void ChunkSize_MustBeAMultipleOf256KiB(int chunkSize)
    {
        var options = new GcsOptions { EmulatorHost = "localhost:1", ChunkSize = chunkSize };

        var e = Assert.Throws<ArgumentException>(() => new GcsObjectStore(new HttpClient(), options));

        Assert.Equal("ChunkSize", e.ParamName);
    }

    [Fact]
    public void AddGcsObjectStore_RejectsABadEmulatorHostWhenTheHostStarts_BeforeAnyoneAsksForTheStore()
    {
        using var provider = new ServiceCollection()
            .AddLogging()
            .AddGcsObjectStore(o => o.EmulatorHost = "bad host:port")
            .BuildServiceProvider();

        // What the host runs at start for ValidateOnStart registrations.
        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IStartupValidator>().Validate());

        Assert.Contains(GcsOptions.EmulatorHostVariable, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddGcsObjectStore_RegistersTheStoreAsIObjectStore()
    {
        var services = new ServiceCollection()
            .AddLogging()
            .AddGcsObjectStore(o =>
            {
                o.EmulatorHost = Server.BaseAddress.AbsoluteUri;
                o.ListPageSize = 10;
            });
        await using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });

        var store = provider.GetRequiredService<IObjectStore>();
        await store.UploadObjectAsync(Bucket, "di/x", "text/plain", new MemoryStream([42]));

        Assert.IsType<GcsObjectStore>(store);
        Assert.Same(store, provider.GetRequiredService<GcsObjectStore>());
        Assert.Equal([42], Server.Find(Bucket, "di/x")!.Data);
        Assert.Equal("gs://fp-test-bucket/di/x", Assert.Single(await store.ListObjectsAsync(Bucket, "di/").ToListAsync()).Uri);
    }
}
