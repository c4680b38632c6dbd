from stepml.cli import main

main()
