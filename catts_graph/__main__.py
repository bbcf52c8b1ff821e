import sys

from catts_graph.cli import main

sys.exit(main())
