/* SPDX-License-Identifier: GPL-3.0-or-later */
/*
 * output/output.c: hands each event to every sink. The JSON text is built once per event
 * and shared; sinks only decide where it goes.
 */
#include "output_internal.h"

#include <stdlib.h>
#include <string.h>

#define OUTPUT_MAX_SINKS 2

struct output {
    struct output_config config;
    struct sink *sinks[OUTPUT_MAX_SINKS];
    int sink_count;
    bool json_sink;              /* flow records have somewhere to go */
    struct output_stats stats;
    struct event_identity identity;
};

void output_config_defaults(struct output_config *config)
{
    memset(config, 0, sizeof(*config));
    config->json_path = "-";
    config->write_flows = true;
    config->syslog_format = "json";
    config->syslog_facility = DEFAULT_SYSLOG_FACILITY;
    config->spool_dir = NULL; /* DEFAULT_SPOOL_DIR */
    config->spool_max_bytes = DEFAULT_SPOOL_MAX_BYTES;
}

struct output *output_open(const struct output_config *config, char *err, size_t err_len)
{
    struct output *output = calloc(1, sizeof(*output));
    if (output == NULL) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    output->config = *config;
    if (!event_identity_init(&output->identity, config->sensor_name, config->run_id, err, err_len))
        goto fail;
    const struct sink_ops *wanted[OUTPUT_MAX_SINKS];
    int wanted_count = 0;
    if (config->json_path != NULL)
        wanted[wanted_count++] = &json_sink_ops;
    if (config->syslog_url != NULL)
        wanted[wanted_count++] = &syslog_sink_ops;
    for (int i = 0; i < wanted_count; i++) {
        struct sink *sink = wanted[i]->open(&output->config, &output->stats, err, err_len);
        if (sink == NULL)
            goto fail;
        output->sinks[output->sink_count++] = sink;
    }
    output->json_sink = config->json_path != NULL;
    return output;

fail:
    output_close(output);
    return NULL;
}

static void output_dispatch(struct output *output, const struct event *event)
{
    if (output->config.on_event != NULL)
        output->config.on_event(output->config.on_event_user, event->json, event->json_len);
    for (int i = 0; i < output->sink_count; i++)
        output->sinks[i]->ops->write_event(output->sinks[i], event);
}

static bool output_writes_flows(const struct output *output)
{
    return output->config.write_flows && output->json_sink;
}

/* Flow records are encoded when a sink writes them or the event observer wants them. */
static bool output_encodes_flows(const struct output *output)
{
    return output_writes_flows(output) || output->config.on_event != NULL;
}

void output_flow(struct output *output, const struct flow *flow, enum flow_end_reason reason,
                 char *json)
{
    if (!output_encodes_flows(output)) {
        free(json);
        return;
    }
    if (json == NULL)
        json = output_flow_json(&output->config, &output->identity, flow, reason);
    if (json == NULL) {
        output->stats.write_errors++;
        return;
    }
    if (output_writes_flows(output)) {
        struct event event = { .type = EVENT_FLOW, .flow = flow, .identity = &output->identity,
                               .json = json, .json_len = strlen(json) };
        output_dispatch(output, &event);
        output->stats.flows_written++;
    } else {
        output->config.on_event(output->config.on_event_user, json, strlen(json));
    }
    free(json);
}

struct flow_encoder {
    struct output_config config;   /* the output's, with a geo view of the encoder's own */
    struct event_identity identity; /* a copy: fixed for the run */
};

struct flow_encoder *output_flow_encoder_new(const struct output *output)
{
    if (!output_encodes_flows(output))
        return NULL;
    struct flow_encoder *encoder = calloc(1, sizeof(*encoder));
    if (encoder == NULL)
        return NULL;
    encoder->config = output->config;
    encoder->identity = output->identity;
    if (output->config.geo != NULL) {
        char err[128];
        encoder->config.geo = geo_view(output->config.geo, err, sizeof(err));
        if (encoder->config.geo == NULL) {
            free(encoder);
            return NULL;
        }
    }
    return encoder;
}

char *output_flow_encode(struct flow_encoder *encoder, const struct flow *flow,
                         enum flow_end_reason reason)
{
    return output_flow_json(&encoder->config, &encoder->identity, flow, reason);
}

void output_flow_encoder_free(struct flow_encoder *encoder)
{
    if (encoder == NULL)
        return;
    geo_close(encoder->config.geo);
    free(encoder);
}

void output_alert(struct output *output, const struct alert *alert)
{
    struct event_ids ids;
    output_alert_ids(&output->identity, alert, &ids);
    char *json = output_alert_json(&output->identity, &ids, alert);
    if (json == NULL) {
        output->stats.write_errors++;
        return;
    }
    struct event event = { .type = EVENT_ALERT, .alert = alert, .ids = &ids,
                           .identity = &output->identity, .json = json, .json_len = strlen(json) };
    output_dispatch(output, &event);
    output->stats.alerts_written++;
    free(json);
}

void output_stats_event(struct output *output, const struct output_run_stats *stats)
{
    if (!output->json_sink)
        return;
    char *json = output_stats_json(&output->identity, output->stats.stats_written + 1, stats);
    if (json == NULL) {
        output->stats.write_errors++;
        return;
    }
    struct event event = { .type = EVENT_STATS, .identity = &output->identity, .json = json,
                           .json_len = strlen(json) };
    output_dispatch(output, &event);
    output->stats.stats_written++;
    free(json);
}

const char *output_sensor_name(const struct output *output)
{
    return output->identity.sensor;
}

void output_summary(struct output *output, const char *json)
{
    struct event event = { .type = EVENT_SUMMARY, .identity = &output->identity, .json = json,
                           .json_len = strlen(json) };
    for (int i = 0; i < output->sink_count; i++)
        output->sinks[i]->ops->write_event(output->sinks[i], &event);
}

void output_tick(struct output *output)
{
    for (int i = 0; i < output->sink_count; i++)
        if (output->sinks[i]->ops->tick != NULL)
            output->sinks[i]->ops->tick(output->sinks[i]);
}

void output_reopen(struct output *output)
{
    for (int i = 0; i < output->sink_count; i++)
        if (output->sinks[i]->ops->reopen != NULL)
            output->sinks[i]->ops->reopen(output->sinks[i]);
}

void output_get_stats(const struct output *output, struct output_stats *stats)
{
    *stats = output->stats;
}

void output_close(struct output *output)
{
    if (output == NULL)
        return;
    for (int i = output->sink_count - 1; i >= 0; i--)
        output->sinks[i]->ops->close(output->sinks[i]);
    free(output);
}
