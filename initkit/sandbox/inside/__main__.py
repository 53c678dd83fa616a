"""Entry point inside the sandbox: `python -I -S <this folder> ZYGOTE_FD CONFIG_JSON`."""

import json
import os
import sys

if __name__ == "__main__":
    # -I leaves the script's folder off sys.path: import this folder as the package `inside`.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from inside.zygote import zygote_main

    zygote_main(int(sys.argv[1]), json.loads(sys.argv[2]))
