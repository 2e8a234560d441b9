from dreamreel.cli import main

raise SystemExit(main())
