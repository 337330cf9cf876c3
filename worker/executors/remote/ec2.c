/* DescribeInstances, RunInstances and TerminateInstances over aws_call, and their answers read
 * (see ec2.h). */
#include "ec2.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/util.h"

#define PAGE 1000 /* MaxResults of a DescribeInstances page */

void ec2_instances_free(ec2_instance *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++) {
        free(list[i].id);
        free(list[i].state);
        free(list[i].ip);
    }
    free(list);
}

static int64_t iso_ms(const char *s)
{
    struct tm tm = {0};
    if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm))
        return 0;
    return (int64_t)timegm(&tm) * 1000;
}

/* An instancesSet item. */
static void read_instance(const xml_node *item, ec2_instance *out)
{
    out->id = xstrdup(xml_text(xml_child(item, "instanceId")));
    out->state = xstrdup(xml_text(xml_find(item, "instanceState/name")));
    const char *ip = xml_text(xml_child(item, "privateIpAddress"));
    out->ip = *ip ? xstrdup(ip) : NULL;
    out->launch_ms = iso_ms(xml_text(xml_child(item, "launchTime")));
}

int ec2_describe(aws *a, const char *key, const char *value, ec2_instance **list, size_t *n,
                 char *err, size_t errlen)
{
    *list = NULL;
    *n = 0;
    cleanup_free char *tag = xasprintf("tag:%s", key);
    cleanup_free char *next = NULL;
    ec2_instance *out = NULL;
    size_t k = 0;
    do {
        cleanup_free char *form = NULL;
        char page[16];
        snprintf(page, sizeof page, "%d", PAGE);
        aws_form_add(&form, "Filter.1.Name", tag);
        aws_form_add(&form, "Filter.1.Value.1", value);
        aws_form_add(&form, "Filter.2.Name", "instance-state-name");
        aws_form_add(&form, "Filter.2.Value.1", "pending");
        aws_form_add(&form, "Filter.2.Value.2", "running");
        aws_form_add(&form, "MaxResults", page);
        if (next)
            aws_form_add(&form, "NextToken", next);
        xml_node *doc;
        if (aws_call(a, "DescribeInstances", form, &doc, err, errlen) < 0) {
            ec2_instances_free(out, k);
            return -1;
        }
        for (const xml_node *r = xml_find(doc, "reservationSet/item"); r; r = xml_next(r, "item"))
            for (const xml_node *i = xml_find(r, "instancesSet/item"); i; i = xml_next(i, "item")) {
                out = xrealloc(out, (k + 1) * sizeof *out);
                read_instance(i, &out[k++]);
            }
        free(next);
        const char *token = xml_text(xml_child(doc, "nextToken"));
        next = *token ? xstrdup(token) : NULL;
        xml_free(doc);
    } while (next);
    *list = out;
    *n = k;
    return 0;
}

int ec2_run(aws *a, const ec2_launch *l, ec2_instance *inst, char *err, size_t errlen)
{
    memset(inst, 0, sizeof *inst);
    cleanup_free char *form = NULL;
    char token[33];
    random_hex(token, 16); /* idempotent: a retried request launches nothing twice */
    aws_form_add(&form, "ImageId", l->ami);
    aws_form_add(&form, "MinCount", "1");
    aws_form_add(&form, "MaxCount", "1");
    aws_form_add(&form, "ClientToken", token);
    if (l->instance_type)
        aws_form_add(&form, "InstanceType", l->instance_type);
    if (l->security_group)
        aws_form_add(&form, "SecurityGroupId.1", l->security_group);
    if (l->subnet)
        aws_form_add(&form, "SubnetId", l->subnet);
    if (l->instance_profile)
        aws_form_add(&form, "IamInstanceProfile.Arn", l->instance_profile);
    if (l->user_data_b64)
        aws_form_add(&form, "UserData", l->user_data_b64);
    aws_form_add(&form, "TagSpecification.1.ResourceType", "instance");
    aws_form_add(&form, "TagSpecification.1.Tag.1.Key", l->tag_key);
    aws_form_add(&form, "TagSpecification.1.Tag.1.Value", l->tag_value);
    xml_node *doc;
    if (aws_call(a, "RunInstances", form, &doc, err, errlen) < 0)
        return -1;
    const xml_node *item = xml_find(doc, "instancesSet/item");
    if (!item) {
        xml_free(doc);
        return set_error(err, errlen, "EC2 RunInstances: no instance in the answer");
    }
    read_instance(item, inst);
    xml_free(doc);
    return 0;
}

int ec2_terminate(aws *a, const char *id, char *err, size_t errlen)
{
    cleanup_free char *form = NULL;
    aws_form_add(&form, "InstanceId.1", id);
    xml_node *doc;
    if (aws_call(a, "TerminateInstances", form, &doc, err, errlen) < 0)
        return -1;
    xml_free(doc);
    return 0;
}
