using System.Security.Cryptography;
using System.Text.Json.Nodes;
using FinancialPipeline.DevServices;
using FinancialPipeline.GoogleApis;
using FinancialPipeline.PubSub;
using Microsoft.AspNetCore.Http;

namespace FinancialPipeline.Core.Tests;

/// <summary>What the REST adapters share: credential lookup and which failures are retried, against local HTTP servers.</summary>
[Collection(nameof(ApplicationDefaultCredentialsCollection))]
public sealed class GoogleApisTests
{
    [Fact]
    public async Task PubSubPublish_WhoseFirstRequestTimesOut_IsRetried()
    {
        var requests = 0;
        await using var server = await LoopbackHttpServer.StartAsync(async context =>
        {
            if (Interlocked.Increment(ref requests) == 1)
            {
                await Task.Delay(TimeSpan.FromSeconds(5), context.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
                return;
            }

            await context.Response.WriteAsJsonAsync(new JsonObject { ["messageIds"] = new JsonArray("42") });
        });
        using var http = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromMilliseconds(300) };
        var client = new PubSubRestClient(http, new PubSubOptions { ProjectId = "p", EmulatorHost = "127.0.0.1:1" });

        var ids = await client.PublishAsync("fp-start", [new PubsubMessage("{}"u8.ToArray(), new Dictionary<string, string>())]);

        Assert.Equal(["42"], ids);
        Assert.Equal(2, requests);
    }

    [Fact]
    public async Task CallersOwnCancellation_IsNotRetried()
    {
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        Assert.False(HttpTransience.IsTransient(new TaskCanceledException("caller", null, cancelled.Token), cancelled.Token));
        Assert.True(HttpTransience.IsTransient(new TaskCanceledException("HttpClient.Timeout", new TimeoutException(), cancelled.Token), CancellationToken.None));
        Assert.True(HttpTransience.IsTransient(new HttpRequestException("refused"), CancellationToken.None));
        Assert.False(HttpTransience.IsTransient(new InvalidOperationException(), CancellationToken.None));
    }

    [Fact]
    public async Task ApplicationDefaultCredentials_FromAKeyFile_GiveATokenThatIsReused()
    {
        var tokenRequests = 0;
        await using var tokenServer = await LoopbackHttpServer.StartAsync(async context =>
        {
            Interlocked.Increment(ref tokenRequests);
            var form = await context.Request.ReadFormAsync();
            Assert.Equal("urn:ietf:params:oauth:grant-type:jwt-bearer", form["grant_type"]);
            await context.Response.WriteAsJsonAsync(new JsonObject { ["access_token"] = "local-token", ["expires_in"] = 3600, ["token_type"] = "Bearer" });
        });
        var directory = Directory.CreateTempSubdirectory("fp-adc-");
        var keyFile = Path.Combine(directory.FullName, "key.json");
        await File.WriteAllTextAsync(keyFile, ServiceAccountKey(new Uri(tokenServer.BaseAddress, "token")));
        var previous = Environment.GetEnvironmentVariable("GOOGLE_APPLICATION_CREDENTIALS");
        Environment.SetEnvironmentVariable("GOOGLE_APPLICATION_CREDENTIALS", keyFile);
        try
        {
            var source = new AdcTokenSource("https://www.googleapis.com/auth/pubsub");

            Assert.Equal("local-token", await source.GetAccessTokenAsync(CancellationToken.None));
            Assert.Equal("local-token", await source.GetAccessTokenAsync(CancellationToken.None));
            Assert.Equal(1, tokenRequests); // the library caches the token until it nears expiry
        }
        finally
        {
            Environment.SetEnvironmentVariable("GOOGLE_APPLICATION_CREDENTIALS", previous);
            directory.Delete(recursive: true);
        }
    }

    private static string ServiceAccountKey(Uri tokenUri)
    {
        using var rsa = RSA.Create(2048);
        return new JsonObject
        {
            ["type"] = "service_account",
            ["project_id"] = "local-project",
            ["private_key_id"] = "test-key",
            ["private_key"] = rsa.ExportPkcs8PrivateKeyPem(),
            ["client_email"] = "fp-test@local-project.iam.gserviceaccount.com",
            ["client_id"] = "1",
            ["token_uri"] = tokenUri.AbsoluteUri,
        }.ToJsonString();
    }
}

/// <summary>
/// Tests that set GOOGLE_APPLICATION_CREDENTIALS, a process-wide variable, run alone (and Google.Apis.Auth caches the
/// process's ADC lookup, so only one test may look it up).
/// </summary>
[CollectionDefinition(nameof(ApplicationDefaultCredentialsCollection), DisableParallelization = true)]
public sealed class ApplicationDefaultCredentialsCollection;
