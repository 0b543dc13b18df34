"""The CloudFormation template (mwaa/cloudformation/archiveflow.yaml), read as CloudFormation would.

Parsed with cfn-lint's decoder (the same parser `cfn-lint` checks it with), then resolved for
one set of parameters: the intrinsic functions the template uses (Ref, Fn::Sub, Fn::GetAtt,
Fn::Join, Fn::Split, Fn::If, Fn::FindInMap, Fn::Not/Equals) become plain values. Used by
devstack/provision.py to create the local stack and by the tests that check the template.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import yaml

TEMPLATE_FILE = Path(__file__).resolve().parents[1] / "mwaa" / "cloudformation" / "archiveflow.yaml"
ACCOUNT = "123456789012"  # moto's account
NO_VALUE = object()

# The physical name property of each resource type the DAGs name through archiveflow.resources.
NAME_PROPERTY = {
    "AWS::S3::Bucket": "BucketName",
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Kinesis::Stream": "Name",
    "AWS::SNS::Topic": "TopicName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::Athena::WorkGroup": "Name",
    "AWS::Batch::ComputeEnvironment": "ComputeEnvironmentName",
    "AWS::Batch::JobQueue": "JobQueueName",
    "AWS::Batch::JobDefinition": "JobDefinitionName",
}


@functools.cache
def decoded(path: Path = TEMPLATE_FILE) -> dict:
    """The template as cfn-lint decodes it (intrinsic functions as {"Fn::…": …}): what the tests check."""
    from cfnlint.decode import decode

    template, problems = decode(str(path))
    if problems:
        raise ValueError(f"{path}: {problems}")
    return template


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    pass


def _short_form(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        return {name: value.split(".", 1) if tag_suffix == "GetAtt" else value}
    if isinstance(node, yaml.SequenceNode):
        return {name: loader.construct_sequence(node, deep=True)}
    return {name: loader.construct_mapping(node, deep=True)}


_Loader.add_multi_constructor("!", _short_form)


@functools.cache
def raw(path: Path = TEMPLATE_FILE) -> dict:
    """The same structure as decoded(), read with PyYAML alone: cfn-lint takes seconds to import,
    and the local stack is provisioned at the start of every test session.
    tests/unit/test_cloudformation.py checks that both readings are equal."""
    return yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 - SafeLoader + the intrinsic tags


class Resolver:
    """Resolves a template's values for given parameters; GetAtt/Ref of resources use `physical`."""

    def __init__(self, template: dict, parameters: dict[str, str], region: str = "us-east-1",
                 physical: dict[str, dict[str, str]] | None = None):
        self.template = template
        self.values = {name: spec.get("Default") for name, spec in template.get("Parameters", {}).items()}
        self.values.update(parameters)
        self.values.update({"AWS::Region": region, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws",
                            "AWS::NoValue": NO_VALUE, "AWS::StackName": parameters.get("NamePrefix", "")})
        self.physical = physical if physical is not None else {}

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in (self.resolve(item) for item in value) if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, argument), = value.items()
            function = getattr(self, "_" + key.replace("::", "_").replace("Fn_", "fn_"), None)
            if function is not None:
                return function(argument)
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template["Conditions"][name]))

    def attribute(self, logical_id: str, attribute: str) -> str:
        """Ref (attribute "Ref") or GetAtt of a resource: what CloudFormation would return."""
        known = self.physical.get(logical_id, {})
        if attribute in known:
            return known[attribute]
        resource = self.template["Resources"][logical_id]
        kind, properties = resource["Type"], resource.get("Properties", {})
        name = self.resolve(properties[NAME_PROPERTY[kind]]) if kind in NAME_PROPERTY else logical_id
        if kind == "AWS::Glue::Database":
            name = self.resolve(properties["DatabaseInput"]["Name"])
        arns = {
            "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{self.values['AWS::Region']}:{ACCOUNT}:table/{name}",
            "AWS::SNS::Topic": f"arn:aws:sns:{self.values['AWS::Region']}:{ACCOUNT}:{name}",
            "AWS::SQS::Queue": f"arn:aws:sqs:{self.values['AWS::Region']}:{ACCOUNT}:{name}",
            "AWS::Kinesis::Stream": f"arn:aws:kinesis:{self.values['AWS::Region']}:{ACCOUNT}:stream/{name}",
            "AWS::KMS::Key": f"arn:aws:kms:{self.values['AWS::Region']}:{ACCOUNT}:key/{logical_id}",
            "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT}:role/{logical_id}",
            "AWS::Logs::LogGroup": f"arn:aws:logs:{self.values['AWS::Region']}:{ACCOUNT}:log-group:"
                                   f"{self.resolve(properties.get('LogGroupName', logical_id))}",
        }
        if attribute == "Ref":
            return {"AWS::SQS::Queue": f"https://sqs.{self.values['AWS::Region']}.amazonaws.com/{ACCOUNT}/{name}",
                    "AWS::SNS::Topic": arns.get(kind), "AWS::KMS::Key": logical_id,
                    "AWS::Logs::LogGroup": self.resolve(properties.get("LogGroupName", logical_id)),
                    }.get(kind, name)
        if attribute == "Arn":
            return arns[kind]
        if attribute == "QueueName" or attribute == "TopicName":
            return name
        raise KeyError(f"GetAtt {logical_id}.{attribute} is not resolved locally")

    def _Ref(self, name: str):
        if name in self.values:
            return self.values[name]
        return self.attribute(name, "Ref")

    def _fn_GetAtt(self, argument):
        logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
        return self.attribute(logical_id, attribute)

    def _fn_Sub(self, argument):
        text, local = (argument, {}) if isinstance(argument, str) else (argument[0], self.resolve(argument[1]))

        def substitute(match: re.Match) -> str:
            name = match.group(1)
            if name in local:
                return str(local[name])
            if "." in name and name.split(".", 1)[0] in self.template["Resources"]:
                return str(self._fn_GetAtt(name))
            return str(self._Ref(name))

        return re.sub(r"\$\{([^!}][^}]*)\}", substitute, text)

    def _fn_Join(self, argument):
        separator, items = argument
        return separator.join(str(i) for i in self.resolve(items))

    def _fn_Split(self, argument):
        separator, text = argument
        return self.resolve(text).split(separator)

    def _fn_If(self, argument):
        name, when_true, when_false = argument
        return self.resolve(when_true if self.condition(name) else when_false)

    def _fn_Not(self, argument):
        return not self.resolve(argument[0])

    def _fn_Equals(self, argument):
        left, right = self.resolve(argument)
        return left == right

    def _fn_FindInMap(self, argument):
        mapping, first, second = self.resolve(argument)
        return self.template["Mappings"][mapping][first][second]


def resources_of_type(template: dict, kind: str) -> dict[str, dict]:
    return {logical_id: r for logical_id, r in template["Resources"].items() if r["Type"] == kind}


def physical_names(resolver: Resolver) -> dict[str, set[str]]:
    """Every physical name the template creates, by resource type (Glue databases included)."""
    names: dict[str, set[str]] = {}
    for resource in resolver.template["Resources"].values():
        kind, properties = resource["Type"], resource.get("Properties", {})
        if kind in NAME_PROPERTY:
            names.setdefault(kind, set()).add(resolver.resolve(properties[NAME_PROPERTY[kind]]))
        elif kind == "AWS::Glue::Database":
            names.setdefault(kind, set()).add(resolver.resolve(properties["DatabaseInput"]["Name"]))
    return names
