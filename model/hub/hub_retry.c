/* hub_retry.c — when to try a request again, and how long to wait first. */
#include "hub.h"

#include <ctype.h>
#include <curl/curl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

double hub_parse_retry_after(const char *value, time_t now)
{
    if (!value) return -1;
    while (*value == ' ' || *value == '\t') value++;
    size_t n = strlen(value);
    while (n && isspace((unsigned char)value[n - 1])) n--;
    if (n == 0 || n > 64) return -1;
    char buf[65];
    memcpy(buf, value, n);
    buf[n] = 0;
    int digits = 1;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)buf[i])) digits = 0;
    if (digits) {
        if (n > 9) return -1;   /* beyond 30 years: not a sensible delay */
        return (double)strtol(buf, NULL, 10);
    }
    time_t when = curl_getdate(buf, NULL);
    if (when == (time_t)-1) return -1;
    double d = difftime(when, now);
    return d > 0 ? d : 0;
}

int hub_status_retryable(long status)
{
    return status == 408 || status == 429 || (status >= 500 && status <= 599);
}

double hub_backoff_delay(double base, int attempt, double retry_after)
{
    const double cap = 300;
    if (retry_after >= 0) return retry_after < cap ? retry_after : cap;
    if (attempt < 1) attempt = 1;
    double d = base * pow(2.0, attempt - 1 < 20 ? attempt - 1 : 20);
    return d < 30 ? d : 30;
}
