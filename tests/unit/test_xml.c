/* Unit tests for the remote executor's XML reader (worker/executors/remote/xml.c): an EC2
 * answer read as the EC2 code reads it, entities, CDATA, namespaces, and what it refuses. */
#include <string.h>

#include "tests/unit/check.h"
#include "worker/executors/remote/xml.h"

static xml_node *parse(const char *s)
{
    xml_node *root = NULL;
    char err[256] = "";
    if (xml_parse(s, strlen(s), &root, err, sizeof err) < 0) {
        fprintf(stderr, "  unexpected: %s\n", err);
        return NULL;
    }
    return root;
}

static void refused(const char *s, const char *why)
{
    xml_node *root = NULL;
    char err[256] = "";
    check(xml_parse(s, strlen(s), &root, err, sizeof err) == -1);
    check(root == NULL);
    check(strstr(err, why) != NULL);
    if (!strstr(err, why))
        fprintf(stderr, "  message was: %s\n", err);
}

int main(void)
{
    test("an EC2 DescribeInstances answer");
    xml_node *d = parse(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
        "<DescribeInstancesResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15\">"
        "<reservationSet><item><instancesSet>"
        "<item><networkInterfaceSet><item><privateIpAddress>10.0.0.9</privateIpAddress></item>"
        "</networkInterfaceSet><instanceId>i-1</instanceId>"
        "<instanceState><code>16</code><name>running</name></instanceState>"
        "<privateIpAddress>10.0.0.4</privateIpAddress></item>"
        "<item><instanceId>i-2</instanceId><instanceState><name>pending</name></instanceState>"
        "</item></instancesSet></item></reservationSet>"
        "<nextToken>tok</nextToken></DescribeInstancesResponse>\n");
    check(d != NULL);
    check_str(d->name, "DescribeInstancesResponse");
    const xml_node *i = xml_find(d, "reservationSet/item/instancesSet/item");
    check_str(xml_text(xml_child(i, "instanceId")), "i-1");
    check_str(xml_text(xml_child(i, "privateIpAddress")), "10.0.0.4"); /* not the ENI's */
    check_str(xml_text(xml_find(i, "instanceState/name")), "running");
    i = xml_next(i, "item");
    check_str(xml_text(xml_child(i, "instanceId")), "i-2");
    check_str(xml_text(xml_child(i, "privateIpAddress")), "");
    check(xml_next(i, "item") == NULL);
    check_str(xml_text(xml_child(d, "nextToken")), "tok");
    check(xml_find(d, "no/such") == NULL);
    xml_free(d);

    test("entities, character references, CDATA, comments, prefixes, attributes");
    d = parse("<p:Response a=\"x>y\" b='1'><!-- note --><Message>a &amp; b &lt;c&gt; "
              "&quot;&apos; &#65;&#x42;&#x20AC;</Message><Raw><![CDATA[<&amp;>]]></Raw>"
              "<Empty/><q:Named>v</q:Named></p:Response>");
    check(d != NULL);
    check_str(d->name, "Response");
    check_str(xml_text(xml_child(d, "Message")), "a & b <c> \"' AB\xe2\x82\xac");
    check_str(xml_text(xml_child(d, "Raw")), "<&amp;>");
    check(xml_child(d, "Empty") != NULL);
    check_str(xml_text(xml_child(d, "Empty")), "");
    check_str(xml_text(xml_child(d, "Named")), "v");
    xml_free(d);

    test("what it refuses");
    refused("<!DOCTYPE x [<!ENTITY e \"boom\">]><x>&e;</x>", "DOCTYPE");
    refused("<x>&e;</x>", "unknown entity");
    refused("<x>&#0;</x>", "character reference");
    refused("<x>&#xD800;</x>", "character reference");
    refused("<a:></b:>", "bad element name"); /* found by fuzz_ec2_xml: an empty local name */
    refused("<a:b:c/>", "bad element name");
    refused("<a><b></a></b>", "does not match");
    refused("<a>", "unclosed");
    refused("<a></a><b></b>", "second document element");
    refused("text<a/>", "outside");
    refused("", "no element");
    refused("<a", "unterminated");
    char deep[XML_MAX_DEPTH * 3 + 16] = "";
    for (int k = 0; k <= XML_MAX_DEPTH; k++)
        strcat(deep, "<a>");
    refused(deep, "too deep");
    return check_done();
}
