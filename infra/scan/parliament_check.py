"""Runs parliament (an IAM policy linter) over every function's policy in template.yaml.

parliament reads IAM policy documents, not CloudFormation, so each function's inline
statements are turned into one document first, with its intrinsic references made into the
ARNs they resolve to on AWS (`!GetAtt EntitiesTable.Arn` into a DynamoDB table ARN, an index
under it, a queue's ARN, a secret's). Any finding fails: exit 1, each printed.
"""
import json
import sys

import yaml
from parliament import analyze_policy_string

ACCOUNT = "123456789012"
REGION = "us-east-1"


class Tagged:
    def __init__(self, tag, value):
        self.tag, self.value = tag, value


def construct(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return Tagged("!" + suffix, value)


yaml.SafeLoader.add_multi_constructor("!", construct)


def arn(resources, logical, attribute="Arn"):
    kind = resources[logical]["Type"]
    if kind == "AWS::DynamoDB::Table":
        return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{logical}"
    if kind == "AWS::SQS::Queue":
        return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{logical}.fifo"
    if kind == "AWS::SecretsManager::Secret":
        return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{logical}-AbCdEf"
    raise SystemExit(f"no ARN form for {logical} ({kind})")


def resolve(resources, value):
    if isinstance(value, list):
        return [resolve(resources, v) for v in value]
    if isinstance(value, Tagged):
        if value.tag == "!GetAtt":
            logical, attribute = value.value.split(".", 1)
            return arn(resources, logical, attribute)
        if value.tag == "!Ref":
            return arn(resources, value.value)
        if value.tag == "!Sub":
            text = value.value
            start, end = text.index("${"), text.index("}")
            logical = text[start + 2:end].removesuffix(".Arn")
            return text[:start] + arn(resources, logical) + text[end + 1:]
        raise SystemExit(f"cannot resolve {value.tag} {value.value}")
    return value


def main(path):
    template = yaml.safe_load(open(path))
    resources = template["Resources"]
    findings = 0
    checked = 0
    for name, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        statements = []
        for policy in resource["Properties"].get("Policies", []):
            for statement in policy["Statement"]:
                statement = dict(statement)
                statement["Resource"] = resolve(resources, statement["Resource"])
                statements.append(statement)
        if not statements:
            continue
        checked += 1
        document = json.dumps({"Version": "2012-10-17", "Statement": statements})
        for finding in analyze_policy_string(document).findings:
            findings += 1
            print(f"{name}: {finding.issue} {finding.detail} {finding.location}")
    print(f"parliament: {checked} policies, {findings} findings")
    return 1 if findings or not checked else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "template.yaml"))
