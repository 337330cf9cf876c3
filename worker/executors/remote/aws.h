/* AWS for the remote backend: credentials and signed calls to the EC2 Query API.
 *
 * Credentials, looked for in the order of the AWS SDKs: the environment (AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN); the shared credentials file
 * (AWS_SHARED_CREDENTIALS_FILE, default ~/.aws/credentials; profile AWS_PROFILE, default
 * "default"); the instance metadata service with IMDSv2 session tokens
 * (AWS_EC2_METADATA_SERVICE_ENDPOINT, default http://169.254.169.254; off with
 * AWS_EC2_METADATA_DISABLED=true), whose credentials are fetched again before they expire.
 * Requests are signed with AWS Signature Version 4 by libcurl (CURLOPT_AWS_SIGV4), the session
 * token in a signed X-Amz-Security-Token header. The endpoint is AWS_ENDPOINT_URL_EC2, else
 * AWS_ENDPOINT_URL, else https://ec2.<AWS_REGION>.amazonaws.com; AWS_CA_BUNDLE, when set, is the
 * CA file its certificate is checked against. Secrets are never logged.
 *
 *   aws_create(cfg, &a, err, errlen)   load libcurl, read the region and endpoint
 *   aws_free(a)                        accepts NULL; wipes the credentials
 *   aws_call(a, action, params, &root, err, errlen)
 *       POST Action=<action>&Version=2016-11-15<params> (params: "&Name=value..." built with
 *       aws_form_add, or ""): 0 with the answer's document element (caller frees with xml_free),
 *       -1 with err ("EC2 <action>: <Code>: <Message>", or what failed on the way)
 *   aws_form_add(&form, name, value)   append "&name=value", percent-encoded as SigV4 wants
 *   aws_creds_source(a)                where the current credentials came from (for logs) */
#ifndef CR_REMOTE_AWS_H
#define CR_REMOTE_AWS_H

#include <stddef.h>

#include "common/config.h"
#include "worker/executors/remote/xml.h"

#define AWS_EC2_API_VERSION "2016-11-15"

typedef struct aws aws;

int aws_create(const cfg *c, aws **out, char *err, size_t errlen);
void aws_free(aws *a);
int aws_call(aws *a, const char *action, const char *params, xml_node **root, char *err,
             size_t errlen);
void aws_form_add(char **form, const char *name, const char *value);
const char *aws_creds_source(const aws *a);

#endif
