using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using CloudNative.CloudEvents;
using FinancialPipeline.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace FinancialPipeline.Core.Tests;

/// <summary>
/// OIDC verification of pushes end to end over HTTP: a function host with FP_OIDC_AUDIENCE semantics, and a local
/// JWKS server standing in for Google's certificate endpoint; tokens are signed with a locally generated RSA key.
/// </summary>
public sealed class PushAuthenticationTests(PushAuthenticationTests.HostFixture host) : IClassFixture<PushAuthenticationTests.HostFixture>
{
    private const string Audience = "https://fp-extract-abc123-ew.a.run.app";
    private const string PushAccount = "fp-push@demo-project.iam.gserviceaccount.com";

    [Theory]
    [InlineData("missing")]
    [InlineData("wrong audience")]
    [InlineData("signed by another key")]
    [InlineData("expired")]
    [InlineData("wrong issuer")]
    [InlineData("not a bearer token")]
    public async Task MissingOrInvalidToken_Is401_AndTheFunctionIsNotCalled(string variant)
    {
        using var otherKey = RSA.Create(2048);
        var authorization = variant switch
        {
            "missing" => null,
            "wrong audience" => "Bearer " + host.Token(audience: "https://someone-else.a.run.app"),
            "signed by another key" => "Bearer " + host.Token(key: otherKey),
            "expired" => "Bearer " + host.Token(issuedAt: TimeProvider.System.GetUtcNow().AddHours(-2)),
            "wrong issuer" => "Bearer " + host.Token(issuer: "https://evil.example"),
            _ => "Basic dXNlcjpwYXNz",
        };

        var (status, calls) = await host.PushAsync(authorization);

        Assert.Equal((HttpStatusCode.Unauthorized, 0), (status, calls));
    }

    [Fact]
    public async Task ValidToken_IsAccepted_AndTheFunctionRuns()
    {
        var (status, calls) = await host.PushAsync("Bearer " + host.Token());

        Assert.Equal((HttpStatusCode.NoContent, 1), (status, calls));
    }

    [Theory]
    [InlineData(2, HttpStatusCode.NoContent)]
    [InlineData(20, HttpStatusCode.NoContent)]
    [InlineData(90, HttpStatusCode.Unauthorized)]
    public async Task ATokenIssuedAheadOfThisClock_IsAcceptedWithin30Seconds(int aheadSeconds, HttpStatusCode expected)
    {
        // Google mints the token by its own clock; an instance whose clock lags it by seconds must not refuse it.
        var token = host.Token(issuedAt: TimeProvider.System.GetUtcNow().AddSeconds(aheadSeconds));

        var (status, _) = await host.PushAsync("Bearer " + token);

        Assert.Equal(expected, status);
    }

    [Fact]
    public async Task TokenOfAnotherServiceAccount_Is403()
    {
        var (status, calls) = await host.PushAsync("Bearer " + host.Token(email: "intruder@demo-project.iam.gserviceaccount.com"));

        Assert.Equal((HttpStatusCode.Forbidden, 0), (status, calls));
    }

    [Fact]
    public void Configuration_EnablesTheCheckWithAnAudience_AndRejectsAServiceAccountWithoutOne()
    {
        static IConfiguration Config(params (string Key, string Value)[] values) =>
            new ConfigurationBuilder().AddInMemoryCollection(values.ToDictionary(v => v.Key, v => (string?)v.Value)).Build();

        Assert.False(PushAuthenticationOptions.FromConfiguration(Config()).Enabled);
        var enabled = PushAuthenticationOptions.FromConfiguration(Config((PushAuthenticationOptions.AudienceVariable, Audience), (PushAuthenticationOptions.ServiceAccountVariable, PushAccount)));
        Assert.Equal((true, Audience, PushAccount), (enabled.Enabled, enabled.Audience, enabled.ServiceAccountEmail));
        var ex = Assert.Throws<InvalidOperationException>(() => PushAuthenticationOptions.FromConfiguration(Config((PushAuthenticationOptions.ServiceAccountVariable, PushAccount))));
        Assert.Contains(PushAuthenticationOptions.AudienceVariable, ex.Message, StringComparison.Ordinal);
    }

    public sealed class HostFixture : IAsyncLifetime
    {
        private readonly RSA _key = RSA.Create(2048);
        private readonly HttpClient _http = new();
        private FunctionApp _jwks = null!;
        private FunctionApp _function = null!;
        private Uri _pushUrl = null!;

        public async Task InitializeAsync()
        {
            var parameters = _key.ExportParameters(includePrivateParameters: false);
            var jwks = JsonSerializer.Serialize(new
            {
                keys = new[] { new { kty = "RSA", alg = "RS256", use = "sig", kid = "test-key", n = Base64Url(parameters.Modulus!), e = Base64Url(parameters.Exponent!) } },
            });
            _jwks = FunctionHost.CreateBuilder([], port: 0).Build();
            _jwks.MapGet("/certs", context => Results.Text(jwks, "application/json").ExecuteAsync(context));
            await _jwks.StartAsync();

            var builder = FunctionHost.CreateBuilder([], port: 0);
            builder.Services.AddSingleton(new PushAuthenticationOptions
            {
                Audience = Audience,
                ServiceAccountEmail = PushAccount,
                CertificatesUrl = new Uri(_jwks.BoundAddress(), "/certs").ToString(),
            });
            builder.Services.AddSingleton<CountingFunction>();
            _function = builder.Build();
            _function.MapCloudEventFunction<CountingFunction>("counting");
            await _function.StartAsync();
            _pushUrl = new Uri(_function.BoundAddress(), "/projects/demo-project/topics/fp-start");
        }

        public async Task DisposeAsync()
        {
            _http.Dispose();
            await _function.DisposeAsync();
            await _jwks.DisposeAsync();
            _key.Dispose();
        }

        /// <summary>Posts one raw push with a fresh message id; returns the status and how often the function ran for it.</summary>
        public async Task<(HttpStatusCode Status, int Calls)> PushAsync(string? authorization)
        {
            var messageId = Guid.NewGuid().ToString("N");
            var body = $$$"""{"message":{"data":"e30=","messageId":"{{{messageId}}}","attributes":{}},"subscription":"projects/demo-project/subscriptions/fp-extract"}""";
            using var request = new HttpRequestMessage(HttpMethod.Post, _pushUrl) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            if (authorization is not null)
            {
                request.Headers.Authorization = AuthenticationHeaderValue.Parse(authorization);
            }

            using var response = await _http.SendAsync(request);
            return (response.StatusCode, _function.Services.GetRequiredService<CountingFunction>().CallsFor(messageId));
        }

        /// <summary>A Google-style ID token (RS256, kid, iss, aud, email, email_verified, iat, exp) signed with <paramref name="key"/>.</summary>
        public string Token(string audience = Audience, string email = PushAccount, string issuer = "https://accounts.google.com", DateTimeOffset? issuedAt = null, RSA? key = null)
        {
            var iat = (issuedAt ?? TimeProvider.System.GetUtcNow()).ToUnixTimeSeconds();
            var header = Base64Url(JsonSerializer.SerializeToUtf8Bytes(new { alg = "RS256", kid = "test-key", typ = "JWT" }));
            var payload = Base64Url(JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
            {
                ["iss"] = issuer,
                ["aud"] = audience,
                ["azp"] = "113774264463038321964",
                ["sub"] = "113774264463038321964",
                ["email"] = email,
                ["email_verified"] = true,
                ["iat"] = iat,
                ["exp"] = iat + 3600,
            }));
            var signature = (key ?? _key).SignData(Encoding.ASCII.GetBytes(header + "." + payload), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            return header + "." + payload + "." + Base64Url(signature);
        }

        private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }

    private sealed class CountingFunction : ICloudEventFunction<MessagePublishedData>
    {
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _calls = new();

        public int CallsFor(string messageId) => _calls.GetValueOrDefault(messageId);

        public Task HandleAsync(CloudEvent cloudEvent, MessagePublishedData data, CancellationToken cancellationToken)
        {
            _calls.AddOrUpdate(data.Message.MessageId, 1, (_, n) => n + 1);
            return Task.CompletedTask;
        }
    }
}
