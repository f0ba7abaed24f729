from resizer_cli.cli import main

main()
