using System.Net;
using System.Text;
using CloudNative.CloudEvents;
using FinancialPipeline.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace FinancialPipeline.Core.Tests;

/// <summary>
/// The function host over HTTP: its routes answer as endpoint routing did (POST anywhere, GET /healthz, 405 with
/// Allow for anything else), and a stop lets a request in flight finish before the host goes away.
/// </summary>
public sealed class FunctionAppTests
{
    [Fact]
    public async Task Routes_answer_a_post_anywhere_the_health_check_and_405_with_allow_for_other_methods()
    {
        await using var app = await StartAsync(new GatedFunction(released: true));
        using var http = new HttpClient();

        using var post = await http.PostAsync(new Uri(app.BoundAddress(), "/projects/p/topics/t?__GCP_CloudEventsMode=CE_PUBSUB_BINARY"), Push("m-1"));
        Assert.Equal(HttpStatusCode.NoContent, post.StatusCode);
        using var health = await http.GetAsync(new Uri(app.BoundAddress(), "/healthz")); // the POST waited for the startup gate
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal("ok", await health.Content.ReadAsStringAsync());

        using var get = await http.GetAsync(new Uri(app.BoundAddress(), "/"));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, get.StatusCode);
        Assert.Equal(["POST"], get.Content.Headers.Allow);
        using var put = await http.PutAsync(new Uri(app.BoundAddress(), "/healthz"), new StringContent(""));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, put.StatusCode);
        Assert.Equal(["POST", "GET"], put.Content.Headers.Allow);
    }

    [Fact]
    public async Task A_stop_lets_the_request_in_flight_finish_and_then_refuses_connections()
    {
        var function = new GatedFunction(released: false);
        var app = await StartAsync(function);
        var address = app.BoundAddress();
        using var http = new HttpClient();

        var inFlight = http.PostAsync(new Uri(address, "/"), Push("m-slow"));
        await function.Entered.WaitAsync(TimeSpan.FromSeconds(30));
        var stopping = app.DisposeAsync().AsTask();
        await Task.Delay(200);
        Assert.False(stopping.IsCompleted, "the stop waits for the request in flight");

        function.Release();
        using var answer = await inFlight.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(HttpStatusCode.NoContent, answer.StatusCode);
        await stopping.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(function.Completed);
        await Assert.ThrowsAsync<HttpRequestException>(() => http.PostAsync(new Uri(address, "/"), Push("m-late")));
    }

    private static async Task<FunctionApp> StartAsync(GatedFunction function)
    {
        var builder = FunctionHost.CreateBuilder([], port: 0);
        builder.Services.AddSingleton(function);
        var app = builder.Build();
        app.MapCloudEventFunction<GatedFunction>("gated");
        await app.StartAsync();
        return app;
    }

    private static StringContent Push(string messageId) =>
        new($$$"""{"message":{"data":"e30=","messageId":"{{{messageId}}}","attributes":{}},"subscription":"projects/p/subscriptions/s"}""", Encoding.UTF8, "application/json");

    /// <summary>Answers once released; says when a request has entered it.</summary>
    private sealed class GatedFunction(bool released) : ICloudEventFunction<MessagePublishedData>
    {
        private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _released = CreateReleased(released);

        public Task Entered => _entered.Task;

        public bool Completed { get; private set; }

        public void Release() => _released.TrySetResult();

        public async Task HandleAsync(CloudEvent cloudEvent, MessagePublishedData data, CancellationToken cancellationToken)
        {
            _entered.TrySetResult();
            await _released.Task.WaitAsync(cancellationToken);
            Completed = true;
        }

        private static TaskCompletionSource CreateReleased(bool released)
        {
            var source = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (released)
            {
                source.SetResult();
            }

            return source;
        }
    }
}
