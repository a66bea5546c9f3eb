"""moto server, with each DynamoDB request applied whole before the next one starts.

moto serves requests on threads and applies a DynamoDB request as several Python steps
with no lock: two concurrent `ADD`s to one counter can lose one, and a cancelled
transaction is rolled back by putting back a copy of the table taken before it, which
undoes whatever another request wrote meanwhile. DynamoDB applies every item write
atomically, and the code relies on it (the list counters). One lock around DynamoDB's
handler gives the local stack and the tests that guarantee; other services (SQS long
polls above all) stay concurrent.

  python infra/local/moto_server.py -H 127.0.0.1 -p 4566   (moto_server's arguments)
"""

import sys
import threading

from moto.dynamodb.responses import DynamoHandler
from moto.server import main

_lock = threading.Lock()
_call_action = DynamoHandler.call_action


def _one_at_a_time(self):
    with _lock:
        return _call_action(self)


DynamoHandler.call_action = _one_at_a_time

if __name__ == "__main__":
    main(sys.argv[1:])
