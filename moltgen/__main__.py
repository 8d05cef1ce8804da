from moltgen.cli import main

main()
