from wattwerk.cli import main

raise SystemExit(main())
