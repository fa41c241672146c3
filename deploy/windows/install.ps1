<#
.SYNOPSIS
Installs the fleetwatch agent as a Windows service, or removes it (-Uninstall).

.DESCRIPTION
Run from the unpacked fleetwatch-agent-<version>-x86_64-windows.zip, in an
elevated PowerShell (Windows PowerShell 5.1 or PowerShell 7). Copies
fleetwatch-agent.exe to $InstallDir, writes %ProgramData%\fleetwatch\agent.toml
and the enroll secret (a file of its own) with `fleetwatch-agent.exe service
configure`, which first gives %ProgramData%\fleetwatch a protected DACL
(SYSTEM and Administrators only, nothing inherited from ProgramData), then
registers the fleetwatch-agent service (automatic start, LocalSystem) and
starts it. The MSI does the same through its properties.

.EXAMPLE
.\install.ps1 -CollectorUrl https://collector.example:8443 -CaFingerprint sha256:0123... -EnrollSecret (Get-Content .\enroll-secret)

.EXAMPLE
.\install.ps1 -Uninstall -RemoveData
#>
#Requires -RunAsAdministrator
[CmdletBinding(DefaultParameterSetName = 'Install')]
param(
    # Collector base URL (https://HOST:PORT).
    [Parameter(Mandatory = $true, ParameterSetName = 'Install')]
    [string] $CollectorUrl,
    # Pinned SHA-256 fingerprint of the collector's certificate (sha256:...).
    [Parameter(ParameterSetName = 'Install')]
    [string] $CaFingerprint = '',
    # PEM file with the CA to trust instead of a pinned fingerprint.
    [Parameter(ParameterSetName = 'Install')]
    [string] $CaFile = '',
    # The collector's enroll secret.
    [Parameter(ParameterSetName = 'Install')]
    [string] $EnrollSecret = '',
    # Where fleetwatch-agent.exe goes.
    [string] $InstallDir = (Join-Path $env:ProgramFiles 'fleetwatch'),
    # Stop and remove the service and the installed executable.
    [Parameter(Mandatory = $true, ParameterSetName = 'Uninstall')]
    [switch] $Uninstall,
    # With -Uninstall: also delete %ProgramData%\fleetwatch (config, node key, logs).
    [Parameter(ParameterSetName = 'Uninstall')]
    [switch] $RemoveData
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$ServiceName = 'fleetwatch-agent'
$Exe = Join-Path $InstallDir 'fleetwatch-agent.exe'
$DataDir = Join-Path $env:ProgramData 'fleetwatch'

# Runs the agent with arguments; a non-zero exit stops the script.
function Invoke-Agent {
    param([string[]] $Arguments)
    & $Exe @Arguments
    if ($LASTEXITCODE -ne 0) {
        throw "fleetwatch-agent.exe $($Arguments[0]) $($Arguments[1]) failed with exit code $LASTEXITCODE"
    }
}

if ($Uninstall) {
    if (Get-Service -Name $ServiceName -ErrorAction SilentlyContinue) {
        # `service uninstall` stops the service first.
        Invoke-Agent @('service', 'uninstall')
    }
    if (Test-Path -LiteralPath $InstallDir) {
        Remove-Item -LiteralPath $InstallDir -Recurse -Force
    }
    if ($RemoveData -and (Test-Path -LiteralPath $DataDir)) {
        Remove-Item -LiteralPath $DataDir -Recurse -Force
    }
    Write-Host "fleetwatch agent removed"
    return
}

$Existing = Get-Service -Name $ServiceName -ErrorAction SilentlyContinue
if ($Existing -and $Existing.Status -ne 'Stopped') {
    # The running executable cannot be replaced.
    Invoke-Agent @('service', 'stop')
    $Existing.WaitForStatus('Stopped', [TimeSpan]::FromSeconds(30))
}

New-Item -ItemType Directory -Force -Path $InstallDir | Out-Null
Copy-Item -LiteralPath (Join-Path $PSScriptRoot 'fleetwatch-agent.exe') -Destination $Exe -Force

# Windows PowerShell 5.1 drops empty arguments to native commands: pass
# only the values given.
$Configure = @('service', 'configure', '--dir', $DataDir, '--collector', $CollectorUrl)
if ($CaFingerprint) { $Configure += @('--ca-fingerprint', $CaFingerprint) }
if ($CaFile) { $Configure += @('--ca', $CaFile) }
if ($EnrollSecret) { $Configure += @('--enroll-secret', $EnrollSecret) }
Invoke-Agent $Configure

if (-not $Existing) {
    # The config path spelled out: the service's environment need not have
    # ProgramData where this session's has.
    Invoke-Agent @('service', 'install', '--config', (Join-Path $DataDir 'agent.toml'))
}
Invoke-Agent @('service', 'start')
Write-Host "fleetwatch agent installed in $InstallDir; config in $DataDir\agent.toml, logs in $DataDir\logs"
