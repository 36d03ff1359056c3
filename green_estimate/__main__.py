from green_estimate.cli.app import main

main()
