from broadcaster.sandbox.runner import main

main()
