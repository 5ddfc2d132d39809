nginx-package-installed:
  pkg.installed:
    - name: nginx
