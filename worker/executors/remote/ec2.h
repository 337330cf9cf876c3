/* The EC2 calls the remote backend makes, and nothing else (the IAM policy in
 * deploy/executor-host/ grants exactly these): DescribeInstances, RunInstances,
 * TerminateInstances.
 *
 *   ec2_describe(a, key, value, &list, &n, err, errlen)
 *       the pending and running instances tagged key=value, every page of them
 *   ec2_run(a, launch, &inst, err, errlen)       launch one instance; *inst filled (its id, and
 *                                                its private address when EC2 gave one)
 *   ec2_terminate(a, id, err, errlen)
 *   ec2_instances_free(list, n)                  accepts NULL */
#ifndef CR_REMOTE_EC2_H
#define CR_REMOTE_EC2_H

#include <stddef.h>
#include <stdint.h>

#include "worker/executors/remote/aws.h"

typedef struct ec2_instance {
    char *id;          /* owned; "i-..." */
    char *state;       /* owned; "pending", "running" */
    char *ip;          /* owned; private IPv4 address, NULL while it has none */
    int64_t launch_ms; /* launch time (wall clock, ms), 0 when unknown */
} ec2_instance;

/* What RunInstances is given. Strings borrowed; NULL ones are left out. */
typedef struct ec2_launch {
    const char *ami;                 /* ImageId */
    const char *instance_type;       /* InstanceType */
    const char *security_group;      /* SecurityGroupId.1 */
    const char *subnet;              /* SubnetId */
    const char *instance_profile;    /* IamInstanceProfile.Arn */
    const char *tag_key, *tag_value; /* the fleet's tag, on the instance */
    const char *user_data_b64;       /* UserData, base64 */
} ec2_launch;

int ec2_describe(aws *a, const char *key, const char *value, ec2_instance **list, size_t *n,
                 char *err, size_t errlen);
int ec2_run(aws *a, const ec2_launch *l, ec2_instance *inst, char *err, size_t errlen);
int ec2_terminate(aws *a, const char *id, char *err, size_t errlen);
void ec2_instances_free(ec2_instance *list, size_t n);

#endif
