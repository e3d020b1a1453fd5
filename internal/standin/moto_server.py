"""moto server for Relink's tests: moto_server with two fixes for how the tests use it.

1. One request at a time. moto_server runs werkzeug threaded, and moto's DynamoDB
   backend takes no lock, so two concurrent TransactWriteItems can both pass their
   conditions. Real DynamoDB serializes conflicting writes; serving requests one by one
   gives the same guarantee, which the 50-writer concurrency test depends on.
2. Transactions check every condition first and then apply, instead of deep-copying
   each table involved for rollback, which makes each transaction cost O(table size)
   and seeding a 1,200-account table quadratic (minutes instead of seconds). With
   requests serialized nothing can change between the check and the apply.

3. Idempotent transactions. Real DynamoDB applies a TransactWriteItems once per
   ClientRequestToken (the SDK sets one and keeps it across its retries) for ten
   minutes; moto ignores the token, so an SDK retry after a lost response (a busy
   machine, a reset connection) applied the transaction twice and failed the second
   time with a false "already exists". The launcher remembers tokens and answers a
   repeat with the first answer.

If moto's internals ever move, fixes 2 and 3 are skipped (correct, just slower or
less faithful): a warning says so.
Usage: python3 moto_server.py HOST PORT
"""

import sys

from werkzeug.serving import run_simple
from moto.server import DomainDispatcherApplication, create_backend_app


def patch_transactions():
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.models import DynamoDBBackend

    def transact_write_items(self, transact_items):
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        seen = set()
        planned = []
        errors = []
        for item in transact_items:
            if len(item) > 1:
                raise TransactWriteSingleOpException
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            if op_type == "Put":
                table = self.get_table(table_name)
                key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = op["Item"][table.range_key_attr]
            else:
                key = op["Key"]
            marker = (str(table_name), str(dict(sorted(key.items()))))
            if marker in seen:
                raise MultipleTransactionsException()
            seen.add(marker)

            condition = op.get("ConditionExpression")
            current = self.get_item(table_name, key)
            if condition is not None:
                check = get_filter_expression(
                    condition,
                    op.get("ExpressionAttributeNames"),
                    op.get("ExpressionAttributeValues"),
                )
                if not check.expr(current):
                    old = None
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        old = current.to_json()["Attributes"]
                    errors.append(("ConditionalCheckFailed", str(ConditionalCheckFailed(item=old).message), old))
                    continue
            errors.append((None, None, None))
            planned.append((op_type, op, table_name, key))

        if any(code is not None for code, _, _ in errors):
            raise TransactionCanceledException(errors)
        # Conditions are passed again (they still hold: nothing ran in between, and no
        # two operations touch one item) so that their placeholders count as used.
        for op_type, op, table_name, key in planned:
            args = dict(
                condition_expression=op.get("ConditionExpression"),
                expression_attribute_names=op.get("ExpressionAttributeNames"),
                expression_attribute_values=op.get("ExpressionAttributeValues"),
            )
            if op_type == "Put":
                self.put_item(table_name, op["Item"], **args)
            elif op_type == "Delete":
                self.delete_item(table_name, key, **args)
            elif op_type == "Update":
                self.update_item(table_name, key, update_expression=op["UpdateExpression"], **args)

    DynamoDBBackend.transact_write_items = transact_write_items


def patch_idempotency():
    import json
    import time

    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.transact_write_items
    seen = {}  # token -> (request body, answer, time)

    def transact_write_items(self):
        token = self.body.get("ClientRequestToken")
        if not token:
            return original(self)
        now = time.monotonic()
        for t in [t for t, (_, _, at) in seen.items() if now - at > 600]:
            del seen[t]
        items = json.dumps(self.body.get("TransactItems"), sort_keys=True)
        if token in seen:
            body, answer, _ = seen[token]
            if body != items:
                from moto.dynamodb.exceptions import MockValidationException

                raise MockValidationException("IdempotentParameterMismatch: the token was used with other items")
            return answer
        answer = original(self)  # a failure raises and is not remembered, as in DynamoDB
        seen[token] = (items, answer, now)
        return answer

    DynamoHandler.transact_write_items = transact_write_items


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    try:
        patch_transactions()
    except Exception as exc:  # moto internals moved: stay correct, only slower
        print(f"warning: moto transaction patch not applied: {exc}", file=sys.stderr)
    try:
        patch_idempotency()
    except Exception as exc:
        print(f"warning: moto idempotency patch not applied: {exc}", file=sys.stderr)
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, app, threaded=False)


if __name__ == "__main__":
    main()
