using System.Text;
using FinancialPipeline.Core.Storage;

namespace FinancialPipeline.Storage.Gcs;

/// <summary>Validation and URL encoding of bucket and object names, by the GCS naming rules.</summary>
public static class GcsNames
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>gs://bucket/name, with the name as is (not percent-encoded), as gcloud prints it.</summary>
    public static string UriOf(string bucket, string objectName)
    {
        ValidateBucket(bucket);
        ValidateObjectName(objectName);
        return $"gs://{bucket}/{objectName}";
    }

    /// <summary>The shared rule of <see cref="BucketNames"/>.</summary>
    public static void ValidateBucket(string bucket) => BucketNames.Validate(bucket);

    /// <summary>1–1024 bytes of valid UTF-8, no carriage return or line feed, and neither "." nor "..".</summary>
    public static void ValidateObjectName(string objectName)
    {
        ArgumentNullException.ThrowIfNull(objectName);
        if (objectName.Length == 0)
        {
            throw new ArgumentException("object name must not be empty", nameof(objectName));
        }

        int bytes;
        try
        {
            bytes = StrictUtf8.GetByteCount(objectName);
        }
        catch (EncoderFallbackException e)
        {
            throw new ArgumentException($"object name '{objectName}' is not valid Unicode (unpaired surrogate)", nameof(objectName), e);
        }

        if (bytes > 1024)
        {
            throw new ArgumentException($"object name '{Shorten(objectName)}' is {bytes} bytes of UTF-8; the limit is 1024", nameof(objectName));
        }

        if (objectName.AsSpan().IndexOfAny('\r', '\n') >= 0)
        {
            throw new ArgumentException($"object name '{objectName.ReplaceLineEndings("\\n")}' must not contain CR or LF", nameof(objectName));
        }

        if (objectName is "." or "..")
        {
            throw new ArgumentException($"object name '{objectName}' is reserved", nameof(objectName));
        }
    }

    /// <summary>
    /// Percent-encodes a name as one URL path segment or query value: everything but A-Z a-z 0-9 - . _ ~ is
    /// encoded as UTF-8, so '/' becomes %2F, ' ' %20, '=' %3D and '+' %2B.
    /// </summary>
    public static string Encode(string value) => Uri.EscapeDataString(value);

    private static bool IsLowerAlphanumeric(char c) => c is (>= 'a' and <= 'z') or (>= '0' and <= '9');

    private static string Shorten(string value) => value.Length <= 64 ? value : value[..64] + "…";
}
