from hhfan.cli import main

main()
