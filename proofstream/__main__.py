"""``python -m proofstream``: the same CLI as the ``proofstream`` script."""

from proofstream.cli import main

main()
